"""The pyfunc/python-function Cloud Native Buildpack: detect and build as Python modules."""
