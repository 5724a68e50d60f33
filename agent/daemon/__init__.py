"""``vault-agent run``: the node daemon (``run``), its configuration (``config``), cron
scheduling (``schedule``), Prometheus metrics (``metrics``) and systemd notify (``sdnotify``).
"""
