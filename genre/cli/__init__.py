"""The ``genre`` command: ``main`` holds the app and the commands on applicants, schemas,
production and data; ``access`` the API keys and the records of answers; ``common`` what they share."""
