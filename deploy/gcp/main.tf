# The fooddelivery back end on Google Cloud: Cloud Functions (2nd gen) over Firestore, Pub/Sub, Cloud Tasks,
# Cloud Scheduler and (optionally) Cloud Workflows. Checked offline by deploy/gcp/check.sh (python-hcl2 + checkov);
# deploy with `terraform apply` after `python deploy/gcp/build_package.py` (see README.md).

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 5.20, < 7"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

variable "project" {
  description = "The Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the functions, the queue, the workflow and the Firestore database."
  type        = string
  default     = "us-central1"
}

variable "saga_mode" {
  description = "Where the order saga runs: pubsub (Pub/Sub + Cloud Tasks, the default) or workflows (Cloud Workflows)."
  type        = string
  default     = "pubsub"
  validation {
    condition     = contains(["pubsub", "workflows"], var.saga_mode)
    error_message = "saga_mode must be pubsub or workflows."
  }
}

variable "payment_gateway" {
  description = "FOODDELIVERY_PAYMENT_GATEWAY: '<module>:<factory>' of the card processor ('fake' only for demos)."
  type        = string
}

variable "auth_mode" {
  description = "FOODDELIVERY_AUTH: firebase (Identity Platform ID tokens) or gateway (behind API Gateway)."
  type        = string
  default     = "firebase"
}

variable "package_path" {
  description = "The functions' source archive built by deploy/gcp/build_package.py."
  type        = string
  default     = "build/fooddelivery-gcp-functions.zip"
}

data "google_project" "this" {}

locals {
  prefix     = "fooddelivery"
  topics     = ["order-events", "runtime", "dead-letters", "notifications", "alerts", "locations"]
  queue_path = "projects/${var.project}/locations/${var.region}/queues/${google_cloud_tasks_queue.timers.name}"
  # The cloudfunctions.net URL of a 2nd gen function is known before it exists (no cycle for the functions that
  # need their own URL as OIDC audience); Cloud Tasks, Cloud Scheduler and Workflows call these URLs.
  url = { for f in ["http-api", "runtime-event", "saga-timer", "outbox-sweep", "saga-step"] :
    f => "https://${var.region}-${var.project}.cloudfunctions.net/${local.prefix}-${f}"
  }
  env = {
    GOOGLE_CLOUD_PROJECT         = var.project
    ORDER_EVENTS_TOPIC           = google_pubsub_topic.topic["order-events"].name
    RUNTIME_TOPIC                = google_pubsub_topic.topic["runtime"].name
    DEAD_LETTER_TOPIC            = google_pubsub_topic.topic["dead-letters"].name
    NOTIFICATIONS_TOPIC          = google_pubsub_topic.topic["notifications"].name
    ALERTS_TOPIC                 = google_pubsub_topic.topic["alerts"].name
    LOCATIONS_TOPIC              = google_pubsub_topic.topic["locations"].name
    FOODDELIVERY_SAGA_MODE       = var.saga_mode
    TASKS_QUEUE                  = local.queue_path
    TIMER_URL                    = local.url["saga-timer"]
    TASKS_SERVICE_ACCOUNT        = google_service_account.sa["tasks"].email
    WORKFLOW                     = "projects/${var.project}/locations/${var.region}/workflows/${local.prefix}-order-saga"
    FOODDELIVERY_WORKFLOW_WAIT   = "callback"
    STEP_URL                     = local.url["saga-step"]
    WORKFLOWS_SERVICE_ACCOUNT    = google_service_account.sa["workflows"].email
    SWEEP_URL                    = local.url["outbox-sweep"]
    SCHEDULER_SERVICE_ACCOUNT    = google_service_account.sa["scheduler"].email
    FOODDELIVERY_AUTH            = var.auth_mode
    FOODDELIVERY_PAYMENT_GATEWAY = var.payment_gateway
  }
}
