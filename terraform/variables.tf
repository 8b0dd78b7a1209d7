variable "cluster_name" {
  description = "Cluster name: Slurm ClusterName and the prefix of every pod name."
  type        = string
  default     = "gpuwatch"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", var.cluster_name))
    error_message = "The cluster name must be 1-40 lower-case letters, digits and dashes, starting and ending with a letter or digit."
  }
}

variable "gpu_type" {
  description = "RunPod GPU type id, e.g. \"NVIDIA A100 80GB PCIe\"."
  type        = string
}

variable "gpu_count" {
  description = "GPUs per pod."
  type        = number
  default     = 1

  validation {
    condition     = var.gpu_count >= 1 && var.gpu_count <= 8
    error_message = "GPUs per pod must be from 1 to 8."
  }
}

variable "workers" {
  description = "Number of worker pods besides the head."
  type        = number
  default     = 0

  validation {
    condition     = var.workers >= 0 && var.workers <= 16
    error_message = "The number of workers must be from 0 to 16."
  }
}

variable "image" {
  description = "Container image of every pod (pod_image/)."
  type        = string
  default     = "ghcr.io/gpuwatch/gpuwatch-pod:0.1.0"
}

variable "model_name" {
  description = "Hugging Face model id that vLLM serves on the head (\"\" = no vLLM)."
  type        = string
  default     = ""
}

variable "tool_call_parser" {
  description = "vLLM --tool-call-parser on the head."
  type        = string
  default     = "hermes"
}

variable "max_model_len" {
  description = "vLLM --max-model-len on the head."
  type        = number
  default     = 32768
}

variable "volume_gb" {
  description = "Persistent volume per pod, in GB (mounted at /workspace)."
  type        = number
  default     = 50

  validation {
    condition     = var.volume_gb >= 1 && var.volume_gb <= 4000
    error_message = "The volume size must be from 1 to 4000 GB."
  }
}

variable "container_disk_gb" {
  description = "Container disk per pod, in GB (wiped when the pod stops)."
  type        = number
  default     = 40
}

variable "cloud_type" {
  description = "RunPod cloud: SECURE or COMMUNITY."
  type        = string
  default     = "SECURE"

  validation {
    condition     = contains(["SECURE", "COMMUNITY"], var.cloud_type)
    error_message = "The cloud type must be SECURE or COMMUNITY."
  }
}

variable "hf_token" {
  description = "Hugging Face token for gated models; set through TF_VAR_hf_token, never in a file."
  type        = string
  default     = ""
  sensitive   = true
}
