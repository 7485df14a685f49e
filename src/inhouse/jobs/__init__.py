"""Jobs whose database rows are the truth: a queue (queue.py: submit, read, cancel), a dispatcher thread that runs
queued tasks on an executor (local subprocesses or Ray) and writes back progress, logs, results and errors, and the
handlers that give each kind of job its meaning. Below services; never imports torch (workers do, inhouse.ml)."""
