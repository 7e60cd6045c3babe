"""The embedded local runtime: the real ASL on moto's interpreter, the real handlers in-process.

Data flow for one image::

    file/folder/s3:// --inputs--> local S3 object --workflow--> Step Functions execution
        Serialize/Classify/Threshold tasks --lambda_bridge--> handlers.*.handler (in-process)
        classify's sagemaker-runtime call --endpoint_bridge--> imageflow.endpoint (real model)
    execution status/output/error --results--> one Outcome per image (table + JSON lines)
"""
