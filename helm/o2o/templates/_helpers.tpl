{{/* Names, labels and the pieces every workload shares. */}}

{{- define "o2o.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<part>", e.g. o2o-receipts, o2o-receipts-postgresql. Args: (list $ part). */}}
{{- define "o2o.name" -}}
{{- printf "%s-%s" (include "o2o.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. Args: (list $ part role). */}}
{{- define "o2o.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
{{ include "o2o.selectorLabels" . }}
{{- end -}}

{{/* What selectors match: part (the service, or nats) and role (server, database, migrate, bus). */}}
{{- define "o2o.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/part-of: o2o
o2o.platform/part: {{ index . 1 }}
o2o.platform/role: {{ index . 2 }}
{{- end -}}

{{/* A service's settings: the defaults overlaid with its own block. Args: (list $ name). Returns YAML. */}}
{{- define "o2o.service" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $merged := mergeOverwrite (deepCopy $root.Values.serviceDefaults) (deepCopy (index $root.Values.services $name)) -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* Enabled gRPC services, in start order (identity first). Returns a comma-separated list. */}}
{{- define "o2o.enabledServices" -}}
{{- $names := list -}}
{{- range $name := list "identity" "receipts" "loyalty" "positioning" "recs" "webhooks" -}}
{{- $svc := index $.Values.services $name -}}
{{- if and $svc $svc.enabled -}}{{- $names = append $names $name -}}{{- end -}}
{{- end -}}
{{- range $name, $svc := $.Values.services -}}
{{- if and $svc.enabled (not (has $name (list "identity" "receipts" "loyalty" "positioning" "recs" "webhooks"))) -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}

{{- define "o2o.image" -}}
{{- $root := index . 0 -}}
{{- $img := $root.Values.image -}}
{{- $repo := ternary (printf "%s/%s" $img.registry $img.repository) $img.repository (ne $img.registry "") -}}
{{- printf "%s/%s:%s" $repo (index . 1) (default $root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{- define "o2o.thirdPartyImage" -}}
{{- printf "%s/%s:%s" .registry .repository .tag -}}
{{- end -}}

{{/* Restricted pod security (Pod Security Standards "restricted"). Arg: uid. */}}
{{- define "o2o.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "o2o.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Spread over zones first, then nodes; soft, so a one-zone cluster still schedules. Args: (list $ part). */}}
{{- define "o2o.topologySpread" -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "o2o.selectorLabels" (list (index . 0) (index . 1) "server") | nindent 6 }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "o2o.selectorLabels" (list (index . 0) (index . 1) "server") | nindent 6 }}
{{- end -}}

{{- define "o2o.terminationGracePeriod" -}}
{{- $p := .Values.platform -}}
{{- add $p.drainSeconds $p.shutdownGraceSeconds $p.terminationMarginSeconds -}}
{{- end -}}

{{/* The event bus URL as an env entry. */}}
{{- define "o2o.natsUrlEnv" -}}
{{- $ev := .Values.events -}}
- name: O2O_NATS_URL
{{- if eq $ev.mode "bundled" }}
  value: {{ printf "nats://%s:4222" (include "o2o.name" (list . "nats")) | quote }}
{{- else if $ev.external.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ $ev.external.existingSecret }}
      key: {{ $ev.external.key }}
{{- else }}
  value: {{ required "events.external.url or events.external.existingSecret is required when events.mode is external" $ev.external.url | quote }}
{{- end }}
{{- end -}}

{{- define "o2o.streamReplicas" -}}
{{- $ev := .Values.events -}}
{{- $bundled := eq $ev.mode "bundled" -}}
{{- $replicas := $ev.streamReplicas | default (ternary $ev.bundled.replicas 1 $bundled) | int -}}
{{- if and $bundled (gt $replicas (int $ev.bundled.replicas)) -}}
{{- fail (printf "events.streamReplicas (%d) cannot exceed events.bundled.replicas (%d)" $replicas (int $ev.bundled.replicas)) -}}
{{- end -}}
{{- $replicas -}}
{{- end -}}

{{/* Settings every process reads. */}}
{{- define "o2o.platformEnv" -}}
{{- $p := .Values.platform -}}
{{ include "o2o.natsUrlEnv" . }}
- name: O2O_STREAM_REPLICAS
  value: {{ include "o2o.streamReplicas" . | quote }}
- name: O2O_IDENTITY_ADDRESS
  value: {{ printf "%s:%v" (include "o2o.name" (list . "identity")) .Values.services.identity.port | quote }}
- name: O2O_TOKEN_ISSUER
  value: {{ $p.tokenIssuer | quote }}
- name: O2O_TOKEN_AUDIENCE
  value: {{ $p.tokenAudience | quote }}
- name: O2O_LOG_LEVEL
  value: {{ $p.logLevel | quote }}
- name: O2O_SHUTDOWN_GRACE_S
  value: {{ $p.shutdownGraceSeconds | quote }}
- name: O2O_DATA_DIR
  value: /tmp/o2o
{{- if .Values.observability.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.observability.otlpEndpoint | quote }}
{{- end }}
{{- end -}}

{{/* The Secret with a service's own credentials. Args: (list $ name svc). */}}
{{- define "o2o.secretName" -}}
{{- $svc := index . 2 -}}
{{- $svc.existingSecret | default (include "o2o.name" (list (index . 0) (index . 1))) -}}
{{- end -}}

{{/* The Secret with a service's database URL. Args: (list $ name svc). */}}
{{- define "o2o.databaseSecret" -}}
{{- $svc := index . 2 -}}
{{- if eq $svc.database.mode "external" -}}
{{- required (printf "services.%s.database.external.existingSecret is required when its database is external" (index . 1)) $svc.database.external.existingSecret -}}
{{- else -}}
{{- include "o2o.name" (list (index . 0) (printf "%s-database" (index . 1))) -}}
{{- end -}}
{{- end -}}

{{- define "o2o.databaseSecretKey" -}}
{{- ternary .database.external.key "url" (eq .database.mode "external") -}}
{{- end -}}

{{/* Whether a Secret is missing from the cluster (always, when rendering without one). Args: (list $ name). */}}
{{- define "o2o.secretMissing" -}}
{{- if not (lookup "v1" "Secret" (index . 0).Release.Namespace (index . 1)) -}}true{{- end -}}
{{- end -}}

{{/* Annotations of objects a migration hook needs before the release's own objects exist:
created once before install (or before the upgrade that adds them) and never deleted by helm. */}}
{{- define "o2o.prerequisiteHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
helm.sh/resource-policy: keep
{{- end -}}

{{- define "o2o.pullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}
