"""Inference backends, one module each, registered through the entry-point group ``edge_screen.backends``.

``base`` holds the :class:`~edge_screen.runtimes.base.Runtime` interface and the model I/O
contract; ``selection`` the static order and the reasons entries are left out. The backend
modules (``onnxruntime``, ``openvino``, ``tensorrt``) each define a ``BACKEND`` entry
(:class:`edge_screen.backends.Backend`) and their runtime class, and import their inference
library only when it is used. Nothing here imports them: the registry reads the entry points.
"""
