"""Lambda entrypoints (handler names the SAM template uses):

- ``fooddelivery_aws.entrypoints.http.handler``: API Gateway REST (payload 1.0) and HTTP API (payload 2.0);
- ``fooddelivery_aws.entrypoints.sqs.handler``: the saga FIFO queue and the timer queue;
- ``fooddelivery_aws.entrypoints.stream.handler``: the orders table's stream (outbox relay) and its sweep schedule;
- ``fooddelivery_aws.entrypoints.kinesis.handler``: the location stream (tracking);
- ``fooddelivery_aws.stepfunctions.task_handler.handler``: the state machine's task Lambda (another module).

Each is thin: it translates the event, calls the application that :func:`fooddelivery_aws.bootstrap.aws_app`
builds once per cold start, and translates the result. Importing an entrypoint module reads no environment variable,
imports no AWS SDK and builds nothing.
"""
