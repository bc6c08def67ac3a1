# CKAN's WSGI entry point (ckan-2.11.5 wsgi.py), which the CKAN wheel does
# not ship: stack/stack.sh copies it to /etc/ckan/default/wsgi.py, where
# DCOR's ckan-uwsgi.ini (wsgi-file) expects it.
import os
from logging.config import fileConfig as loggingFileConfig

from ckan.cli import CKANConfigLoader
from ckan.config.middleware import make_app

config_filepath = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "ckan.ini")
loggingFileConfig(config_filepath)
config = CKANConfigLoader(config_filepath).get_config()
application = make_app(config)
