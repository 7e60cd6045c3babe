"""A local model registry shaped like SageMaker Model Registry: a model package group and its versions."""
