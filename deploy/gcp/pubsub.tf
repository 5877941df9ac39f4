# Topics, the runtime's push subscription (ordered, dead-lettered) and the dead letters' pull subscription.

resource "google_pubsub_topic" "topic" {
  for_each                   = toset(local.topics)
  name                       = "${local.prefix}-${each.key}"
  message_retention_duration = "604800s"
  kms_key_name               = google_kms_crypto_key.pubsub.id
  depends_on                 = [google_kms_crypto_key_iam_member.pubsub_agent]
}

# Messages (orders, addresses, positions) are encrypted with a key of the project's own, rotated every 90 days.
resource "google_kms_key_ring" "this" {
  name     = "${local.prefix}-keys"
  location = var.region
}

resource "google_kms_crypto_key" "pubsub" {
  name            = "${local.prefix}-pubsub"
  key_ring        = google_kms_key_ring.this.id
  rotation_period = "7776000s"
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "pubsub_agent" {
  crypto_key_id = google_kms_crypto_key.pubsub.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# The saga runtime: the runtime topic pushed to the runtime_event function with an OIDC token, one order's
# messages in order (ordering key = order id), retried with back-off, then dead-lettered after 10 attempts.
resource "google_pubsub_subscription" "runtime" {
  name                    = "${local.prefix}-runtime"
  topic                   = google_pubsub_topic.topic["runtime"].id
  ack_deadline_seconds    = 120
  enable_message_ordering = true

  push_config {
    push_endpoint = google_cloudfunctions2_function.fn["runtime-event"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.sa["push"].email
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["dead-letters"].id
    max_delivery_attempts = 10
  }
}

# Operators read (and replay) dead letters from here; messages keep their attributes and deadLetterReason.
resource "google_pubsub_subscription" "dead_letters" {
  name                       = "${local.prefix}-dead-letters"
  topic                      = google_pubsub_topic.topic["dead-letters"].id
  message_retention_duration = "604800s"
  retain_acked_messages      = true
  expiration_policy {
    ttl = ""
  }
}

# Dead-lettering needs the Pub/Sub service agent to publish to the dead-letter topic and to ack on the source.
resource "google_pubsub_topic_iam_member" "agent_dead_letters" {
  topic  = google_pubsub_topic.topic["dead-letters"].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_subscription_iam_member" "agent_runtime" {
  subscription = google_pubsub_subscription.runtime.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
