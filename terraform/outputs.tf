locals {
  all_pods = concat(
    [{ pod = runpod_pod.head, role = "head", ports = local.head_ports }],
    [for worker in runpod_pod.worker : { pod = worker, role = "worker", ports = local.worker_ports }],
  )
}

output "cluster_name" {
  description = "The cluster name the pods were created with."
  value       = var.cluster_name
}

output "pods" {
  description = "Every pod: id, name, role, GPU type and count, cost per hour and its proxy URL per port."
  value = [for p in local.all_pods : {
    id            = p.pod.id
    name          = p.pod.name
    role          = p.role
    gpu_type      = p.pod.gpu_type_id
    gpu_count     = p.pod.gpu_count
    cost_per_hour = p.pod.cost_per_hr
    urls          = { for port in p.ports : tostring(port) => "https://${p.pod.id}-${port}.proxy.runpod.net" }
  }]
}

output "head_host" {
  description = "The head's address on RunPod's private network."
  value       = "${runpod_pod.head.id}.runpod.internal"
}

output "pod_token" {
  description = "Bearer token of every pod service and of vLLM (the app keeps it in the keyring)."
  value       = random_password.pod_token.result
  sensitive   = true
}
