"""Developer tools around the Serverless CLI."""
