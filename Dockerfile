# Backlog Bot: `backlog-bot serve` on $PORT (default 3000).
FROM python:3.11-slim
# tini as PID 1 forwards SIGTERM/SIGINT to the bot and reaps orphans. The bot also
# handles the signals itself, so it stops cleanly as PID 1 without it (docker run
# --init, or an entry point replaced by a manifest's `command:`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 bot
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY playbooks ./playbooks
RUN pip install --no-cache-dir . && rm -rf /root/.cache
USER 10001
ENV PORT=3000 PLAYBOOK=/app/playbooks/queue-backlog.yml
EXPOSE 3000
# Liveness on the port the bot is configured with (PORT may be changed at run time).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
# SIGTERM (Docker's and Kubernetes' default) starts the graceful stop: running actions
# get BACKLOG_BOT_SHUTDOWN_GRACE (20 s) to finish, under Kubernetes' 30 s default.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "backlog-bot"]
CMD ["serve"]
