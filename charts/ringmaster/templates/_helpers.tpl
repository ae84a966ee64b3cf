{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "ringmaster.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name of the operator's objects. */}}
{{- define "ringmaster.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "ringmaster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ringmaster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "ringmaster.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "ringmaster.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ringmaster.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ringmaster.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ringmaster.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Worker images: CPU recipes get the tag, GPU recipes (gpusPerWorker > 0) the GPU tag. */}}
{{- define "ringmaster.workerImage" -}}
{{- printf "%s:%s" .Values.workerImage.repository (default .Chart.AppVersion .Values.workerImage.tag) }}
{{- end }}

{{- define "ringmaster.workerGpuImage" -}}
{{- $tag := default .Chart.AppVersion .Values.workerImage.tag }}
{{- printf "%s:%s" .Values.workerImage.repository (default (printf "%s-gpu" $tag) .Values.workerImage.gpuTag) }}
{{- end }}

{{/* Leader election whenever two replicas could be active at once. */}}
{{- define "ringmaster.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}
