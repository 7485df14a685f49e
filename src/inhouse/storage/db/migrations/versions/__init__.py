"""The revisions, oldest first: 0001 is the schema inhouse 0.1.0 created (it recorded no revision)."""
