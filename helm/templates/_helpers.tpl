{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "shunt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name. */}}
{{- define "shunt.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "shunt.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "shunt.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shunt.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "shunt.labels" -}}
helm.sh/chart: {{ include "shunt.chart" . }}
{{ include "shunt.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shunt
{{- end -}}

{{- define "shunt.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "shunt.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "shunt.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* "IP:port" for the config file; IPv6 addresses get brackets. */}}
{{- define "shunt.hostport" -}}
{{- if contains ":" .host -}}
{{- printf "[%s]:%d" .host (int .port) -}}
{{- else -}}
{{- printf "%s:%d" .host (int .port) -}}
{{- end -}}
{{- end -}}

{{/* Is the proxy container rendered? (Istio mode uses Envoy as the L7 proxy.) */}}
{{- define "shunt.proxyEnabled" -}}
{{- if and .Values.proxy.enabled (not .Values.istioMode.enabled) -}}true{{- end -}}
{{- end -}}

{{/* Container securityContext: privileged, or drop ALL + the listed capabilities. */}}
{{- define "shunt.securityContext" -}}
{{- $uid := default 0 .uid -}}
{{- if .root.Values.privileged }}
privileged: true
{{- else }}
privileged: false
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
  {{- with .caps }}
  add:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
readOnlyRootFilesystem: true
runAsUser: {{ $uid }}
runAsNonRoot: {{ ne (int $uid) 0 }}
seccompProfile:
  type: {{ if .root.Values.privileged }}Unconfined{{ else }}RuntimeDefault{{ end }}
{{- end -}}
