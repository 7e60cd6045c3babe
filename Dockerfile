# One image for SageMaker training and serving. SageMaker runs it as `docker run IMAGE train` (training job)
# or `docker run IMAGE serve` (endpoint, port 8080); both go to the `imageflow-container` entry point:
#   train -> imageflow.training.container.main(/opt/ml): channels in /opt/ml/input/data, model to /opt/ml/model
#   serve -> the model version in /opt/ml/model (unpacked model.tar.gz) behind GET /ping, POST /invocations
# Build and push: see README.md, "Training on SageMaker".
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/imageflow
COPY requirements-container.txt ./
RUN pip install -r requirements-container.txt

# The project itself, installed editable so that it finds models/ and datasets/ beside the package
COPY pyproject.toml ./
COPY imageflow/ imageflow/
COPY handlers/ handlers/
COPY models/mobilenet_v2.onnx models/imagenet_classes.json models/PROVENANCE.md models/LICENSE-torchvision-weights models/
COPY models/labels/ models/labels/
COPY datasets/open-set-negatives/train/ datasets/open-set-negatives/train/
COPY datasets/open-set-negatives/PROVENANCE.md datasets/open-set-negatives/
RUN pip install --no-deps -e . \
    && python -c "import imageflow.training.container, imageflow.endpoint.model"

# SageMaker sends traffic to 8080 and mounts /opt/ml; nothing runs as a daemon before it
EXPOSE 8080
ENTRYPOINT ["imageflow-container"]
CMD ["serve"]
