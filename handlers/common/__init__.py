"""Domain code shared by the three Lambda functions and packaged with them.

Pure modules (``errors``, ``events``, ``images``, ``inferences``, ``config``) hold the rules;
``aws`` holds the thin boto3 adapters at the edge.
"""
