{{/*
Names, labels, the table of services and configuration documents, and the pieces every workload
template shares (images, environment, credentials, volumes).

Helpers that need more than the root context take a dict:
  root       the root context ($)
  key        the service's key under .Values.services (intakeChat, classifier, ...)
  component  that service's entry of "switchboard.components"
  workload   its values merged over .Values.workloadDefaults ("switchboard.workload")
*/}}

{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every resource name: <release>-<chart>, or the release name alone when it already
contains the chart name. Truncated so that "-<component>" still fits in 63 characters.
*/}}
{{- define "switchboard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchboard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one service's resources (dict root component). */}}
{{- define "switchboard.componentLabels" -}}
{{ include "switchboard.labels" .root }}
app.kubernetes.io/component: {{ .component.name }}
{{- end -}}

{{- define "switchboard.componentSelectorLabels" -}}
{{ include "switchboard.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component.name }}
{{- end -}}

{{/* Name of one service's resources (dict root component): <fullname>-<service>. */}}
{{- define "switchboard.componentFullname" -}}
{{- printf "%s-%s" (include "switchboard.fullname" .root) .component.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The services, keyed as under .Values.services:
  name         the component name (resource names, labels, image name)
  command      the console script the container runs
  public       reachable from outside through the Ingress/HTTPRoute
  partitioned  a Kafka consumer group over the pipeline topics: busy replicas <= topics.pipelinePartitions
  credentials  the agreed secret variables it reads; required: those it cannot start without
  documents    configuration documents it reads: document key -> the variable naming the file
*/}}
{{- define "switchboard.components" -}}
intakeChat:
  name: intake-chat
  command: switchboard-intake-chat
  public: true
  partitioned: false
  credentials: [WEBCHAT_SESSION_SECRET, SLACK_SIGNING_SECRET, META_APP_SECRET, META_VERIFY_TOKEN, TELEGRAM_SECRET_TOKEN, WECHAT_TOKEN, WECHAT_ENCODING_AES_KEY, WECOM_TOKEN, WECOM_ENCODING_AES_KEY, WECOM_SECRET, LINE_CHANNEL_SECRET]
  required: [WEBCHAT_SESSION_SECRET]
  documents: {}
intakeEmail:
  name: intake-email
  command: switchboard-intake-email
  public: true
  partitioned: false
  credentials: [EMAIL_INBOUND_TOKEN, SATISFACTION_LINK_SECRET]
  required: []
  documents: {mailboxes: EMAIL_MAILBOXES_FILE}
intakePhone:
  name: intake-phone
  command: switchboard-intake-phone
  public: true
  partitioned: false
  credentials: [TWILIO_AUTH_TOKEN, PBX_WEBHOOK_SECRET]
  required: []
  documents: {ivr: PHONE_IVR_FILE}
classifier:
  name: classifier
  command: switchboard-classifier
  public: false
  partitioned: true
  credentials: []
  required: []
  documents: {routing: CLASSIFIER_ROUTING_PATH, taxonomy: CLASSIFIER_TAXONOMY_PATH}
dispatcher:
  name: dispatcher
  command: switchboard-dispatcher
  public: false
  partitioned: true
  credentials: []
  required: []
  documents: {routing: DISPATCHER_ROUTING_PATH, topicPlan: DISPATCHER_TOPIC_PLAN_PATH}
notifier:
  name: notifier
  command: switchboard-notifier
  public: false
  partitioned: true
  credentials: [SMTP_PASSWORD, TWILIO_AUTH_TOKEN, SLACK_BOT_TOKEN, WHATSAPP_ACCESS_TOKEN, MESSENGER_PAGE_ACCESS_TOKEN, TELEGRAM_BOT_TOKEN, WECHAT_APP_SECRET, WECOM_SECRET, LINE_CHANNEL_ACCESS_TOKEN, SATISFACTION_LINK_SECRET]
  required: []
  documents: {ackTemplates: NOTIFIER_TEMPLATES_PATH}
{{- end -}}

{{/* Configuration documents: the file name inside the mount and the ConfigMap's name suffix. */}}
{{- define "switchboard.documents" -}}
topicPlan: {file: topics.yaml, suffix: topic-plan}
routing: {file: routing.yaml, suffix: routing}
taxonomy: {file: taxonomy.yaml, suffix: taxonomy}
ackTemplates: {file: templates.yaml, suffix: ack-templates}
mailboxes: {file: mailboxes.yaml, suffix: mailboxes}
ivr: {file: ivr.yaml, suffix: ivr}
{{- end -}}

{{/*
One service's values over the defaults (dict root key), as YAML. A key the service sets replaces the
default's value; podAnnotations and podLabels are merged (the service's entries win).
*/}}
{{- define "switchboard.workload" -}}
{{- $merged := deepCopy .root.Values.workloadDefaults -}}
{{- range $name, $value := index .root.Values.services .key -}}
{{- if and (has $name (list "podAnnotations" "podLabels")) (kindIs "map" $value) -}}
{{- $_ := set $merged $name (merge (deepCopy $value) (deepCopy (index $merged $name | default dict))) -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- $_ := set $merged $name $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/*
An image reference (dict root name image): the image's own repository, or
<registry>/<repositoryPrefix>/<name>; then @digest, or :tag (default: the chart's appVersion).
*/}}
{{- define "switchboard.image" -}}
{{- $global := .root.Values.image -}}
{{- $image := .image | default dict -}}
{{- $repository := $image.repository -}}
{{- if not $repository -}}
{{- $repository = .name -}}
{{- with $global.repositoryPrefix }}{{ $repository = printf "%s/%s" . $repository }}{{ end -}}
{{- with $global.registry }}{{ $repository = printf "%s/%s" . $repository }}{{ end -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default (default .root.Chart.AppVersion $global.tag) $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The image of the topics Job: its own, else the dispatcher's. */}}
{{- define "switchboard.topicsJobImage" -}}
{{- $job := .Values.topicsJob.image -}}
{{- if $job.repository -}}
{{- include "switchboard.image" (dict "root" . "name" "dispatcher" "image" $job) -}}
{{- else -}}
{{- $dispatcher := .Values.services.dispatcher.image | default dict -}}
{{- $image := dict "repository" $dispatcher.repository "tag" (default $dispatcher.tag $job.tag) "digest" (default $dispatcher.digest $job.digest) -}}
{{- include "switchboard.image" (dict "root" . "name" "dispatcher" "image" $image) -}}
{{- end -}}
{{- end -}}

{{/*
A configuration document's content (dict root key); empty when the packaged file is to be used.
The topic plan is always rendered from .Values.topics.
*/}}
{{- define "switchboard.documentContent" -}}
{{- if eq .key "topicPlan" -}}
{{- include "switchboard.topicPlan" .root -}}
{{- else if eq .key "mailboxes" -}}
{{- with .root.Values.config.mailboxes -}}
{{- toYaml (dict "mailboxes" .) -}}
{{- end -}}
{{- else -}}
{{- $value := index .root.Values.config .key -}}
{{- if kindIs "string" $value -}}
{{- $value -}}
{{- else if $value -}}
{{- toYaml $value -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a document's ConfigMap (dict root key). */}}
{{- define "switchboard.documentConfigMapName" -}}
{{- $documents := include "switchboard.documents" .root | fromYaml -}}
{{- printf "%s-%s" (include "switchboard.fullname" .root) (index $documents .key).suffix -}}
{{- end -}}

{{/* Where a document is mounted (dict root key). */}}
{{- define "switchboard.documentPath" -}}
{{- $documents := include "switchboard.documents" .root | fromYaml -}}
{{- $document := index $documents .key -}}
{{- printf "/etc/switchboard/%s/%s" $document.suffix $document.file -}}
{{- end -}}

{{/* The topic plan in the format of switchboard_common/config/topics.yaml, from .Values.topics. */}}
{{- define "switchboard.topicPlan" -}}
{{- $plan := .Values.topics -}}
{{- $topics := dict -}}
{{- range $name, $topic := $plan.topics -}}
{{- $entry := dict "retention_ms" (int64 $topic.retentionMs) -}}
{{- if $topic.pipeline -}}
{{- $_ := set $entry "pipeline" true -}}
{{- else -}}
{{- $_ := set $entry "partitions" (int64 $topic.partitions) -}}
{{- end -}}
{{- with $topic.cleanupPolicy -}}
{{- $_ := set $entry "cleanup_policy" . -}}
{{- end -}}
{{- $_ := set $topics $name $entry -}}
{{- end -}}
{{- $document := dict
  "replication_factor" (int64 $plan.replicationFactor)
  "min_insync_replicas" (int64 $plan.minInsyncReplicas)
  "pipeline_partitions" (int64 $plan.pipelinePartitions)
  "departments" $plan.departments
  "department_topic" (dict "partitions" (int64 $plan.departmentTopic.partitions) "retention_ms" (int64 $plan.departmentTopic.retentionMs))
  "topics" $topics
  "dead_letter" (dict "partitions" (int64 $plan.deadLetter.partitions) "retention_ms" (int64 $plan.deadLetter.retentionMs) "for" $plan.deadLetter.for)
-}}
# The topic plan, rendered by the Helm chart from .Values.topics.
{{ toYaml $document }}
{{- end -}}

{{/* An environment value as a quoted string; whole numbers print without an exponent. */}}
{{- define "switchboard.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . | toString | quote -}}
{{- else -}}
{{- toString . | quote -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret the chart creates from .Values.credentials.values. */}}
{{- define "switchboard.credentialsSecretName" -}}
{{- printf "%s-credentials" (include "switchboard.fullname" .) -}}
{{- end -}}

{{/* Name of the hook Secret with the topics Job's Kafka password (when the chart creates it). */}}
{{- define "switchboard.topicsJobName" -}}
{{- printf "%s-topics" (include "switchboard.fullname" .) -}}
{{- end -}}

{{/*
Where a credential variable comes from (dict root name), as YAML {secret, key, optional, created},
or nothing when no source provides it. Order: secretRefs, values (the chart's Secret), existingSecret.
*/}}
{{- define "switchboard.credentialSource" -}}
{{- $credentials := .root.Values.credentials -}}
{{- if hasKey $credentials.secretRefs .name -}}
{{- $ref := index $credentials.secretRefs .name -}}
secret: {{ $ref.name }}
key: {{ $ref.key | default .name }}
optional: false
created: false
{{- else if index $credentials.values .name -}}
secret: {{ include "switchboard.credentialsSecretName" .root }}
key: {{ .name }}
optional: false
created: true
{{- else if $credentials.existingSecret -}}
secret: {{ $credentials.existingSecret }}
key: {{ .name }}
optional: true
created: false
{{- end -}}
{{- end -}}

{{/* Whether Kafka uses SASL (root context): "true" or empty. */}}
{{- define "switchboard.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{/* The IMAP password variables the mailboxes name (root context), as a JSON list. */}}
{{- define "switchboard.mailboxPasswordNames" -}}
{{- $names := list -}}
{{- range .Values.config.mailboxes -}}
{{- $names = append $names .password_env -}}
{{- end -}}
{{- toJson ($names | uniq) -}}
{{- end -}}

{{/*
The credential variables one service reads (dict root key component), as a JSON list of
{name, required}: its own, the IMAP passwords for intake-email, KAFKA_SASL_PASSWORD with SASL.
*/}}
{{- define "switchboard.credentialNames" -}}
{{- $root := .root -}}
{{- $entries := list -}}
{{- range .component.credentials -}}
{{- $entries = append $entries (dict "name" . "required" (has . $.component.required)) -}}
{{- end -}}
{{- if eq .key "intakeEmail" -}}
{{- range include "switchboard.mailboxPasswordNames" $root | fromJsonArray -}}
{{- $entries = append $entries (dict "name" . "required" true) -}}
{{- end -}}
{{- end -}}
{{- if include "switchboard.kafkaSasl" $root -}}
{{- $entries = append $entries (dict "name" "KAFKA_SASL_PASSWORD" "required" true) -}}
{{- end -}}
{{- toJson $entries -}}
{{- end -}}

{{/*
The secretKeyRef environment entries, as a JSON list, for a list of credential entries (dict root
entries what secretOverride). A required variable without a source fails the render, naming the ways
to provide it. secretOverride replaces the chart's own Secret (the topics Job reads a hook copy).
*/}}
{{- define "switchboard.credentialEnv" -}}
{{- $root := .root -}}
{{- $env := list -}}
{{- range .entries -}}
{{- $source := include "switchboard.credentialSource" (dict "root" $root "name" .name) | fromYaml -}}
{{- if $source.secret -}}
{{- $secret := $source.secret -}}
{{- if and $source.created $.secretOverride -}}
{{- $secret = $.secretOverride -}}
{{- end -}}
{{- $ref := dict "name" $secret "key" $source.key -}}
{{- if and $source.optional (not .required) -}}
{{- $_ := set $ref "optional" true -}}
{{- end -}}
{{- $env = append $env (dict "name" .name "valueFrom" (dict "secretKeyRef" $ref)) -}}
{{- else if .required -}}
{{- fail (printf "%s needs the credential %s: set credentials.values.%s, credentials.secretRefs.%s or credentials.existingSecret" $.what .name .name .name) -}}
{{- end -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}

{{/* A sha256 of the chart-created credentials a list of entries uses (dict root entries); empty if none. */}}
{{- define "switchboard.credentialChecksum" -}}
{{- $root := .root -}}
{{- $used := dict -}}
{{- range .entries -}}
{{- $source := include "switchboard.credentialSource" (dict "root" $root "name" .name) | fromYaml -}}
{{- if $source.created -}}
{{- $_ := set $used .name (index $root.Values.credentials.values .name) -}}
{{- end -}}
{{- end -}}
{{- if $used -}}
{{- toJson $used | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* Kafka connection variables (root context), shared by the services and the topics Job. */}}
{{- define "switchboard.kafkaEnv" -}}
{{- $kafka := .Values.kafka -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ $kafka.bootstrapServers | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol | quote }}
- name: KAFKA_TOPIC_PREFIX
  value: {{ $kafka.topicPrefix | quote }}
- name: KAFKA_CLIENT_ID
  value: {{ $kafka.clientId | quote }}
- name: KAFKA_EXACTLY_ONCE
  value: {{ $kafka.exactlyOnce | toString | quote }}
- name: KAFKA_TRANSACTION_TIMEOUT_MS
  value: {{ include "switchboard.envValue" $kafka.transactionTimeoutMs }}
{{- if include "switchboard.kafkaSasl" . }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ $kafka.sasl.username | quote }}
{{- end }}
{{- if has $kafka.securityProtocol (list "SSL" "SASL_SSL") }}
- name: KAFKA_SSL_CHECK_HOSTNAME
  value: {{ $kafka.tls.checkHostname | toString | quote }}
{{- with $kafka.tls.existingSecret }}
{{- if $kafka.tls.caKey }}
- name: KAFKA_SSL_CAFILE
  value: {{ printf "/etc/switchboard/kafka-tls/%s" $kafka.tls.caKey | quote }}
{{- end }}
{{- if $kafka.tls.certKey }}
- name: KAFKA_SSL_CERTFILE
  value: {{ printf "/etc/switchboard/kafka-tls/%s" $kafka.tls.certKey | quote }}
- name: KAFKA_SSL_KEYFILE
  value: {{ printf "/etc/switchboard/kafka-tls/%s" $kafka.tls.keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Whether the Kafka TLS Secret is mounted (root context): "true" or empty. */}}
{{- define "switchboard.kafkaTlsMounted" -}}
{{- if and (has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL")) .Values.kafka.tls.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* The Kafka TLS Secret as a volume, and its mount. */}}
{{- define "switchboard.kafkaTlsVolume" -}}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end -}}

{{- define "switchboard.kafkaTlsVolumeMount" -}}
- name: kafka-tls
  mountPath: /etc/switchboard/kafka-tls
  readOnly: true
{{- end -}}

{{/* An HTTP probe (dict probe path): the handler plus the probe's tuning, without "enabled". */}}
{{- define "switchboard.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{- with omit .probe "enabled" }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* An int-or-percentage value: "25%" quoted, numbers as integers. */}}
{{- define "switchboard.intOrPercent" -}}
{{- if kindIs "string" . -}}
{{- quote . -}}
{{- else -}}
{{- int64 . -}}
{{- end -}}
{{- end -}}

{{/*
The public routes (root context), as a JSON list of {path, service, port}: every path of every
enabled public service, longest first (Ingress controllers and Gateways pick the longest match anyway;
the order keeps the rendered manifest stable and readable).
*/}}
{{- define "switchboard.publicRoutes" -}}
{{- $routes := list -}}
{{- range $key, $component := include "switchboard.components" . | fromYaml -}}
{{- $workload := include "switchboard.workload" (dict "root" $ "key" $key) | fromYaml -}}
{{- if and $component.public $workload.enabled -}}
{{- range $workload.ingressPaths -}}
{{- $routes = append $routes (dict "path" . "service" (include "switchboard.componentFullname" (dict "root" $ "component" $component)) "port" ($workload.service.port | int)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $sorted := list -}}
{{- range $routes -}}
{{- $sorted = append $sorted (printf "%04d %s" (sub 1000 (len .path)) (toJson .)) -}}
{{- end -}}
{{- $result := list -}}
{{- range sortAlpha $sorted -}}
{{- $result = append $result (regexReplaceAll "^[0-9]+ " . "" | fromJson) -}}
{{- end -}}
{{- toJson $result -}}
{{- end -}}
