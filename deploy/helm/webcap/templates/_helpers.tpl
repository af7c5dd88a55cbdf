{{/* Names and labels shared by every template. */}}
{{- define "webcap.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webcap.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "webcap.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "webcap.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end -}}

{{- define "webcap.secretName" -}}
{{- .Values.existingSecret | default (include "webcap.fullname" .) -}}
{{- end -}}

{{- define "webcap.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "webcap.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* Environment of every webcap container: the ConfigMap and the Secret. */}}
{{- define "webcap.envFrom" -}}
- configMapRef:
    name: {{ include "webcap.fullname" . }}
- secretRef:
    name: {{ include "webcap.secretName" . }}
{{- end -}}

{{/* Pod-level settings shared by the web, worker, beat and migrate pods. */}}
{{- define "webcap.podSpec" -}}
serviceAccountName: {{ include "webcap.serviceAccountName" . }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Web and worker volumes: the metrics folder of the pod (PROMETHEUS_MULTIPROC_DIR, empty
whenever the pod starts) and the artifact volume, when artifacts live on a PVC. */}}
{{- define "webcap.volumes" -}}
volumes:
  - name: metrics
    emptyDir:
      medium: Memory
      sizeLimit: {{ .Values.metrics.sizeLimit }}
{{- if eq .Values.artifacts.storage "pvc" }}
  - name: artifacts
    persistentVolumeClaim:
      claimName: {{ .Values.artifacts.pvc.existingClaim | default (printf "%s-artifacts" (include "webcap.fullname" .)) }}
{{- end }}
{{- end -}}

{{- define "webcap.volumeMounts" -}}
volumeMounts:
  - name: metrics
    mountPath: {{ .Values.metrics.multiprocDir }}
{{- if eq .Values.artifacts.storage "pvc" }}
  - name: artifacts
    mountPath: {{ .Values.artifacts.pvc.mountPath }}
{{- end }}
{{- end -}}
