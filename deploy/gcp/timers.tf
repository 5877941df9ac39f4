# Saga timers (Cloud Tasks), the outbox sweep (Cloud Scheduler) and the workflow (Cloud Workflows).

resource "google_cloud_tasks_queue" "timers" {
  name     = "${local.prefix}-saga-timers"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 500
    max_concurrent_dispatches = 1000
  }

  retry_config {
    max_attempts  = 100
    min_backoff   = "5s"
    max_backoff   = "300s"
    max_doublings = 6
  }
}

resource "google_cloud_scheduler_job" "outbox_sweep" {
  name      = "${local.prefix}-outbox-sweep"
  region    = var.region
  schedule  = "* * * * *"
  time_zone = "Etc/UTC"

  http_target {
    uri         = local.url["outbox-sweep"]
    http_method = "POST"
    oidc_token {
      service_account_email = google_service_account.sa["scheduler"].email
      audience              = local.url["outbox-sweep"]
    }
  }
}

# The order saga compiled from the core's definition (deploy/gcp/workflows/order-saga.yaml, callback mode).
resource "google_workflows_workflow" "order_saga" {
  count           = var.saga_mode == "workflows" ? 1 : 0
  name            = "${local.prefix}-order-saga"
  region          = var.region
  description     = "The fooddelivery order saga, generated from the core's saga definition."
  service_account = google_service_account.sa["workflows"].id
  call_log_level  = "LOG_ERRORS_ONLY"
  source_contents = file("${path.module}/workflows/order-saga.yaml")
  user_env_vars = {
    STEP_URL = local.url["saga-step"]
  }
}
