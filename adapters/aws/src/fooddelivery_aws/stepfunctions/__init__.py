"""The order saga on AWS Step Functions: ASL generated from the core's definition, and its task Lambda.

Importing this package loads neither boto3 nor the core's adapters; the submodules are imported on use.
"""
