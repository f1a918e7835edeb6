# Backlog Bot: `backlog-bot serve` on port 3000.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 bot
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY playbooks ./playbooks
RUN pip install --no-cache-dir . && rm -rf /root/.cache
USER 10001
ENV PORT=3000 PLAYBOOK=/app/playbooks/queue-backlog.yml
EXPOSE 3000
HEALTHCHECK CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:3000/healthz')" || exit 1
ENTRYPOINT ["backlog-bot"]
CMD ["serve"]
