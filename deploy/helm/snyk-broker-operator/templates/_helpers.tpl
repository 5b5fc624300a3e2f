{{/*
Names. The full name is the release name when it contains the chart name (so `helm install snyk-broker-operator`
names everything as the kustomize install does), else RELEASE-CHART; both can be overridden.
*/}}
{{- define "sbo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sbo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- /* The metrics Service: FULLNAME-metrics (a Service name is at most 63 characters). */}}
{{- define "sbo.metricsServiceName" -}}
{{- printf "%s-metrics" (include "sbo.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sbo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sbo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Labels. The first two are the kustomize install's (deploy/base/kustomization.yaml); the others are Helm's.
*/}}
{{- define "sbo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sbo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sbo.labels" -}}
app.kubernetes.io/name: {{ include "sbo.name" . }}
app.kubernetes.io/part-of: snyk-broker-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The operator's RBAC rules come from files/rbac.yaml, a byte copy of deploy/base/rbac.yaml (hack/sync_chart.py,
`make generate`): one source for both installs. "sbo.baseObject" returns, as YAML, the object of that file with
the given kind and name (the names there are the kustomize install's).
*/}}
{{- define "sbo.baseObject" -}}
{{- $root := index . 0 }}
{{- $kind := index . 1 }}
{{- $name := index . 2 }}
{{- $found := dict }}
{{- range $doc := regexSplit "(?m)^---[ \\t]*$" ($root.Files.Get "files/rbac.yaml") -1 }}
{{- $object := fromYaml $doc }}
{{- if and (eq (toString $object.kind) $kind) (eq (toString (dig "metadata" "name" "" $object)) $name) }}
{{- $found = $object }}
{{- end }}
{{- end }}
{{- if not $found }}
{{- fail (printf "files/rbac.yaml has no %s %s" $kind $name) }}
{{- end }}
{{- toYaml $found }}
{{- end }}

{{/*
The cluster-scoped resources among the operator's rules. A namespace-scoped install (watchNamespaces) grants the
other rules in a Role per namespace, and these through a small ClusterRole.
*/}}
{{- define "sbo.clusterScopedResources" -}}
clustersnykconnections clustersnykconnections/status namespaces customresourcedefinitions
{{- end }}

{{/*
The operator's rules, all of them ("all"), or only those on namespaced ("namespaced") or cluster-scoped
("cluster") resources: each rule keeps its groups and verbs and the matching subset of its resources.
*/}}
{{- define "sbo.operatorRules" -}}
{{- $root := index . 0 }}
{{- $scope := index . 1 }}
{{- $clusterScoped := splitList " " (include "sbo.clusterScopedResources" $root) }}
{{- $base := include "sbo.baseObject" (list $root "ClusterRole" "snyk-broker-operator") | fromYaml }}
{{- $rules := list }}
{{- range $rule := $base.rules }}
{{- $resources := list }}
{{- range $resource := $rule.resources }}
{{- $isCluster := has $resource $clusterScoped }}
{{- if or (eq $scope "all") (and (eq $scope "cluster") $isCluster) (and (eq $scope "namespaced") (not $isCluster)) }}
{{- $resources = append $resources $resource }}
{{- end }}
{{- end }}
{{- if $resources }}
{{- $rules = append $rules (set (deepCopy $rule) "resources" $resources) }}
{{- end }}
{{- end }}
{{- toYaml $rules }}
{{- end }}

{{/*
The operator namespace: where ClusterSnykConnection API-token Secrets are read.
*/}}
{{- define "sbo.operatorNamespace" -}}
{{- default .Release.Namespace .Values.operatorNamespace }}
{{- end }}

{{- define "sbo.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The operator's command line. Without values, exactly deploy/base/deployment.yaml's.
*/}}
{{- define "sbo.args" -}}
{{- $args := list "run" }}
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
{{- $args = concat $args (list "--namespace" .) }}
{{- end }}
{{- else }}
{{- $args = append $args "--all-namespaces" }}
{{- end }}
{{- $args = concat $args (list "--liveness" "http://0.0.0.0:8080/healthz") }}
{{- if .Values.operatorNamespace }}
{{- $args = concat $args (list "--operator-namespace" .Values.operatorNamespace) }}
{{- end }}
{{- $args = concat $args (include "sbo.leaderElectionArgs" . | fromJsonArray) }}
{{- if .Values.metrics.enabled }}
{{- $args = concat $args (list "--metrics-address" (printf "0.0.0.0:%d" (int .Values.metrics.port))) }}
{{- end }}
{{- if eq .Values.logLevel "debug" }}
{{- $args = append $args "--verbose" }}
{{- end }}
{{- if eq .Values.logFormat "json" }}
{{- $args = concat $args (list "--log-format" "json") }}
{{- end }}
{{- $args = concat $args .Values.extraArgs }}
{{- toJson $args }}
{{- end }}

{{/*
Leader election flags, only where they differ from the operator's defaults (so the default install has kustomize's
command line): off; the Lease named after the release when that is not the default name (two releases in one
namespace must not share a Lease); durations. The Lease's namespace is always the one the operator runs in.
*/}}
{{- define "sbo.leaderElectionArgs" -}}
{{- $args := list }}
{{- $election := .Values.leaderElection }}
{{- if not $election.enabled }}
{{- $args = append $args "--no-leader-election" }}
{{- else }}
{{- $fullname := include "sbo.fullname" . }}
{{- if ne $fullname "snyk-broker-operator" }}
{{- $args = concat $args (list "--lease-name" $fullname) }}
{{- end }}
{{- range $key, $flag := dict "leaseDuration" "--lease-duration" "renewDeadline" "--renew-deadline" "retryPeriod" "--retry-period" }}
{{- $value := index $election $key }}
{{- $default := index (dict "leaseDuration" 15 "renewDeadline" 10 "retryPeriod" 2) $key }}
{{- if ne (toString $value) (toString $default) }}
{{- $args = concat $args (list $flag (toString $value)) }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $args }}
{{- end }}
