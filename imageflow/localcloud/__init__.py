"""The local cloud: moto (with our fixes) and the local SageMaker endpoint as background services.

``imageflow local start`` runs them so that the Serverless CLI works offline: ``sls invoke local``,
``sls deploy --stage local``, ``sls invoke stepf --stage local`` and ``sls remove --stage local``.
"""
