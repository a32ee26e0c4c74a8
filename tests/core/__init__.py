"""Core: configuration, encryption, migrations, queues and the worker process, the store, the CLI, the demo."""
