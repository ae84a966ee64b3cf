// The pod sandbox's "pause" process: holds the pod's namespaces, reaps orphaned children
// (it is PID 1 when the pod shares its PID namespace) and exits on SIGINT/SIGTERM.
// Built static by .ci/setup.d/34-node-images.sh and tagged as the sandbox image the CRI
// config names, because no registry is reachable here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
