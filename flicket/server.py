"""``[server:main] use = egg:flicket#waitress``: waitress, as ``egg:waitress#main``, except
that ``FLICKET_LISTEN`` (when set) says where to listen instead of the ini's ``listen``.

So one ``production.ini`` serves every process of a site: systemd's ``flicket@.service``
starts ``pserve production.ini`` once per port with ``FLICKET_LISTEN=127.0.0.1:<port>``
(PasteDeploy lets no command-line value override the ini's own defaults).
"""

import os

import waitress

from flicket.settings import ENV_LISTEN


def serve(wsgi_app, global_conf, **settings):
    listen = os.environ.get(ENV_LISTEN, "").strip()
    if listen:
        settings["listen"] = listen
    return waitress.serve_paste(wsgi_app, global_conf, **settings)
