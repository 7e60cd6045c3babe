"""Cost per million images on AWS, from measured handler figures and a dated prices file."""
