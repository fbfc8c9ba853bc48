{{/* The sealing controller's name. */}}
{{- define "sealkit.fullname" -}}
{{- default "sealed-secrets-controller" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The sealing controller's labels. */}}
{{- define "sealkit.labels" -}}
app.kubernetes.io/name: {{ include "sealkit.fullname" . }}
app.kubernetes.io/part-of: sealkit
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The ExternalSecret bridge's name. */}}
{{- define "sealkit.externalSecrets.name" -}}
{{- .Values.externalSecrets.name | trunc 56 | trimSuffix "-" -}}
{{- end -}}

{{/* The ExternalSecret bridge's labels. */}}
{{- define "sealkit.externalSecrets.labels" -}}
app.kubernetes.io/name: {{ include "sealkit.externalSecrets.name" . }}
app.kubernetes.io/part-of: sealkit
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The bridge's served namespaces, checked: listed, and never the sealing controller's. */}}
{{- define "sealkit.externalSecrets.namespaces" -}}
{{- $namespaces := .Values.externalSecrets.namespaces | default list -}}
{{- if not $namespaces -}}
{{- fail "externalSecrets.namespaces must list the namespaces the bridge serves (the chart never grants Secrets cluster-wide)" -}}
{{- end -}}
{{- if has .Release.Namespace $namespaces -}}
{{- fail (printf "externalSecrets.namespaces must not hold %s: the bridge never reaches the sealing controller's namespace" .Release.Namespace) -}}
{{- end -}}
{{- if eq .Values.externalSecrets.namespace .Release.Namespace -}}
{{- fail (printf "externalSecrets.namespace must not be %s: the bridge runs in its own namespace" .Release.Namespace) -}}
{{- end -}}
{{- join "," $namespaces -}}
{{- end -}}

{{/* Pod security context shared by both Deployments. */}}
{{- define "sealkit.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security context shared by both Deployments. */}}
{{- define "sealkit.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* The pod's namespace and name, for the Lease (namespace and holder identity). */}}
{{- define "sealkit.podEnv" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end -}}

{{/* One NetworkPolicy peer for a provider CIDR, with cloud metadata addresses cut out:
169.254.0.0/16 from an IPv4 range that holds it (a range inside it is refused), fe80::/10 and
fd00:ec2::254/128 from ::/0. */}}
{{- define "sealkit.providerPeer" -}}
{{- $cidr := . | toString -}}
{{- if not (contains "/" $cidr) -}}
{{- fail (printf "networkPolicy.externalSecrets.providerCIDRs: %q is not a CIDR (address/bits)" $cidr) -}}
{{- end -}}
{{- $except := list -}}
{{- if contains ":" $cidr -}}
{{- if eq $cidr "::/0" -}}
{{- $except = list "fe80::/10" "fd00:ec2::254/128" -}}
{{- else if regexMatch "^(?i)fe[89ab]" $cidr -}}
{{- fail (printf "networkPolicy.externalSecrets.providerCIDRs: %q is link-local" $cidr) -}}
{{- end -}}
{{- else -}}
{{- $parts := split "/" $cidr -}}
{{- $bits := atoi $parts._1 -}}
{{- $octets := split "." $parts._0 -}}
{{- $high := add (mul (atoi $octets._0) 256) (atoi $octets._1) -}}
{{- $linkLocal := 43518 -}}{{- /* 169.254 as 169 * 256 + 254 */ -}}
{{- if and (ge $bits 16) (eq $high $linkLocal) -}}
{{- fail (printf "networkPolicy.externalSecrets.providerCIDRs: %q is inside 169.254.0.0/16 (cloud metadata)" $cidr) -}}
{{- else if lt $bits 16 -}}
{{- $step := index (list 65536 32768 16384 8192 4096 2048 1024 512 256 128 64 32 16 8 4 2 1) $bits -}}
{{- if eq (div $high $step) (div $linkLocal $step) -}}
{{- $except = list "169.254.0.0/16" -}}
{{- end -}}
{{- end -}}
{{- end -}}
- ipBlock:
    cidr: {{ $cidr | quote }}
    {{- if $except }}
    except:
      {{- range $except }}
      - {{ . | quote }}
      {{- end }}
    {{- end }}
{{- end -}}

{{/* Egress rules every sealkit pod needs: the API server and the cluster DNS. */}}
{{- define "sealkit.baseEgress" -}}
{{- if not .Values.networkPolicy.apiServer.cidrs -}}
{{- fail "networkPolicy.apiServer.cidrs must list the API server's addresses" -}}
{{- end -}}
- to:
    {{- range .Values.networkPolicy.apiServer.cidrs }}
    - ipBlock:
        cidr: {{ . | quote }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.apiServer.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}
