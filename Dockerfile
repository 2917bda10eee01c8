# One image for the API, the workers and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIPENV_VENV_IN_PROJECT=1 OMP_NUM_THREADS=1
WORKDIR /srv/marketrec

RUN pip install "pipenv==2026.10.3"
COPY Pipfile Pipfile.lock ./
# The lock pins torch 2.13.0+cpu; PyTorch's CPU index carries that wheel.
ARG PIP_FIND_LINKS=https://download.pytorch.org/whl/cpu/torch/
ARG DEV=""
RUN PIP_FIND_LINKS=$PIP_FIND_LINKS pipenv sync $DEV
ENV PATH="/srv/marketrec/.venv/bin:$PATH"

COPY . .
EXPOSE 5000
CMD ["gunicorn", "app:create_app()", "-c", "gunicorn.conf.py"]
