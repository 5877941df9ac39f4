# Service accounts, each with the least it needs:
#   api       - the HTTP API: Firestore, publish events, enqueue timers (as `tasks`), start/signal executions
#   runtime   - runtime_event, saga_timer, outbox_sweep, saga_step: the same, for the saga
#   tasks     - the identity Cloud Tasks signs timer calls with: invokes saga_timer only
#   push      - the identity of the runtime subscription's pushes: invokes runtime_event only
#   scheduler - the identity of the sweep job: invokes outbox_sweep only
#   workflows - the workflow's identity: invokes saga_step only, writes its logs

resource "google_service_account" "sa" {
  for_each     = toset(["api", "runtime", "tasks", "push", "scheduler", "workflows"])
  account_id   = "${local.prefix}-${each.key}"
  display_name = "fooddelivery ${each.key}"
}

locals {
  app_accounts = ["api", "runtime"]
}

# Firestore data access is granted per project (Firestore has no finer IAM resource).
resource "google_project_iam_member" "firestore" {
  for_each = toset(local.app_accounts)
  project  = var.project
  role     = "roles/datastore.user"
  member   = "serviceAccount:${google_service_account.sa[each.key].email}"
}

resource "google_pubsub_topic_iam_member" "publish" {
  for_each = { for pair in setproduct(local.app_accounts, local.topics) : "${pair[0]}-${pair[1]}" => pair }
  topic    = google_pubsub_topic.topic[each.value[1]].id
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.sa[each.value[0]].email}"
}

resource "google_cloud_tasks_queue_iam_member" "enqueue" {
  for_each = toset(local.app_accounts)
  name     = google_cloud_tasks_queue.timers.id
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.sa[each.key].email}"
}

# Creating a task with an OIDC token of `tasks` requires acting as it.
resource "google_service_account_iam_member" "act_as_tasks" {
  for_each           = toset(local.app_accounts)
  service_account_id = google_service_account.sa["tasks"].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.sa[each.key].email}"
}

# Workflows mode: start executions and send callbacks (roles/workflows.invoker holds both permissions).
resource "google_project_iam_member" "workflows_invoker" {
  for_each = var.saga_mode == "workflows" ? toset(local.app_accounts) : toset([])
  project  = var.project
  role     = "roles/workflows.invoker"
  member   = "serviceAccount:${google_service_account.sa[each.key].email}"
}

resource "google_project_iam_member" "workflows_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.sa["workflows"].email}"
}
