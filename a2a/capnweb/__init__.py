"""A2A over Cap'n Web: the service the npm ``capnweb`` client calls (/ws/capnweb, POST /capnweb).

``service.py`` holds the capabilities (``A2AService`` and, after ``authenticate``,
``AuthenticatedA2A``), ``streaming.py`` the callbacks of live task updates, ``consumer.py`` and
``views.py`` the two transports. The session layer itself is the ``capnweb`` package.
"""
