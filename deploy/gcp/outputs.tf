output "api_url" {
  description = "The HTTP API's URL."
  value       = google_cloudfunctions2_function.fn["http-api"].service_config[0].uri
}

output "dead_letters_subscription" {
  description = "Where operators read dead letters (with their deadLetterReason attribute)."
  value       = google_pubsub_subscription.dead_letters.id
}
