"""Adapters for other libraries; each module imports its library only when used.

* :mod:`secauth.integrations.powertools`: Powertools for AWS Lambda (Python) event
  handler middleware, a ``lambda_handler_decorator`` form, and decision logs, metrics
  and traces through Powertools ``Logger``, ``Metrics`` and ``Tracer``.
"""
