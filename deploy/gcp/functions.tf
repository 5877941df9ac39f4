# The five Cloud Functions (2nd gen) of fooddelivery_gcp.main, from one source archive (the core + fooddelivery_gcp
# only: see build_package.py).

resource "google_storage_bucket" "source" {
  name                        = "${var.project}-${local.prefix}-functions"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  versioning {
    enabled = true
  }
  # checkov:skip=CKV_GCP_62:access logs of a build-artefact bucket add cost and no audit value (Cloud Audit Logs record writes)
}

resource "google_storage_bucket_object" "source" {
  name   = "fooddelivery-gcp-functions-${filemd5(var.package_path)}.zip"
  bucket = google_storage_bucket.source.name
  source = var.package_path
}

locals {
  functions = {
    "http-api"      = { entry = "http_api", sa = "api", signature = "http", ingress = "ALLOW_ALL", timeout = 60 }
    "runtime-event" = { entry = "runtime_event", sa = "runtime", signature = "cloudevent", ingress = "ALLOW_INTERNAL_ONLY", timeout = 300 }
    "saga-timer"    = { entry = "saga_timer", sa = "runtime", signature = "http", ingress = "ALLOW_INTERNAL_ONLY", timeout = 300 }
    "outbox-sweep"  = { entry = "outbox_sweep", sa = "runtime", signature = "http", ingress = "ALLOW_INTERNAL_ONLY", timeout = 300 }
    "saga-step"     = { entry = "saga_step", sa = "runtime", signature = "http", ingress = "ALLOW_INTERNAL_ONLY", timeout = 300 }
  }
}

resource "google_cloudfunctions2_function" "fn" {
  # checkov:skip=CKV_GCP_124:only http-api allows all ingress: it is the public API, every call authenticated by an ID token
  for_each = local.functions
  name     = "${local.prefix}-${each.key}"
  location = var.region

  build_config {
    runtime     = "python311"
    entry_point = each.value.entry
    environment_variables = {
      # runtime_event takes raw Pub/Sub pushes, which functions-framework converts into CloudEvents
      GOOGLE_FUNCTION_SIGNATURE_TYPE = each.value.signature
    }
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = "512M"
    timeout_seconds                  = each.value.timeout
    max_instance_count               = 100
    max_instance_request_concurrency = 1
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.sa[each.value.sa].email
    environment_variables            = local.env
  }
}

# Who may invoke what (Cloud Run invoker on each function's service). The HTTP API is public: every request
# carries a Firebase / Identity Platform ID token the function verifies (or, with auth_mode = gateway, it sits
# behind API Gateway, which verifies it).
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = {
    "http-api"      = "allUsers"
    "runtime-event" = "serviceAccount:${google_service_account.sa["push"].email}"
    "saga-timer"    = "serviceAccount:${google_service_account.sa["tasks"].email}"
    "outbox-sweep"  = "serviceAccount:${google_service_account.sa["scheduler"].email}"
    "saga-step"     = "serviceAccount:${google_service_account.sa["workflows"].email}"
  }
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = each.value
}
