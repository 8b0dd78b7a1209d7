# One head pod (Slurm controller, vLLM, exporters) and N worker pods; environment as pod_image/start.sh expects.

resource "random_password" "pod_token" {
  length  = 48
  special = false
}

resource "random_password" "munge_key" {
  length  = 64
  special = false
}

locals {
  head_ports   = [9400, 9341, 8000, 8002]
  worker_ports = [9400, 8002]

  common_env = [
    "GPUWATCH_CLUSTER=${var.cluster_name}",
    "GPUWATCH_WORKERS=${var.workers}",
    "GPUWATCH_GPUS_PER_NODE=${var.gpu_count}",
    "GPUWATCH_POD_TOKEN=${random_password.pod_token.result}",
    "GPUWATCH_MUNGE_KEY=${random_password.munge_key.result}",
  ]
}

resource "runpod_pod" "head" {
  name                 = "${var.cluster_name}-head"
  image_name           = var.image
  gpu_type_id          = var.gpu_type
  gpu_count            = var.gpu_count
  cloud_type           = var.cloud_type
  volume_in_gb         = var.volume_gb
  container_disk_in_gb = var.container_disk_gb
  volume_mount_path    = "/workspace"
  ports                = join(",", [for port in local.head_ports : "${port}/http"])

  env = concat(local.common_env, [
    "GPUWATCH_ROLE=head",
    "MODEL_NAME=${var.model_name}",
    "TOOL_CALL_PARSER=${var.tool_call_parser}",
    "MAX_MODEL_LEN=${var.max_model_len}",
    "HF_TOKEN=${var.hf_token}",
  ])
}

resource "runpod_pod" "worker" {
  count = var.workers

  name                 = "${var.cluster_name}-worker-${count.index + 1}"
  image_name           = var.image
  gpu_type_id          = var.gpu_type
  gpu_count            = var.gpu_count
  cloud_type           = var.cloud_type
  volume_in_gb         = var.volume_gb
  container_disk_in_gb = var.container_disk_gb
  volume_mount_path    = "/workspace"
  ports                = join(",", [for port in local.worker_ports : "${port}/http"])

  # Workers reach the head over RunPod's private network.
  env = concat(local.common_env, [
    "GPUWATCH_ROLE=worker",
    "GPUWATCH_WORKER_INDEX=${count.index + 1}",
    "GPUWATCH_HEAD_HOST=${runpod_pod.head.id}.runpod.internal",
  ])
}
