"""The order saga on Google Cloud Workflows: the definition generated from the core's saga (:mod:`.compile`), the
``SagaEngine`` that starts and signals executions (:mod:`.engine`), and the step function every workflow step
calls (:mod:`.steps`)."""
