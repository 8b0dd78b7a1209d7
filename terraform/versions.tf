terraform {
  required_version = ">= 1.5.0"

  required_providers {
    runpod = {
      source  = "runpod/runpod"
      version = "~> 1.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

# The API key comes from the RUNPOD_API_KEY environment variable (set by the app from the keyring),
# so it is never written to a file or to the state.
provider "runpod" {}
