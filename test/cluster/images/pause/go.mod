module ringmaster.dev/test/cluster/images/pause

go 1.22
