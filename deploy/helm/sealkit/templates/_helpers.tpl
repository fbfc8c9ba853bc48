{{- define "sealkit.fullname" -}}
{{- default "sealed-secrets-controller" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "sealkit.labels" -}}
app.kubernetes.io/name: {{ include "sealkit.fullname" . }}
app.kubernetes.io/part-of: sealkit
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
