"""The embedded synthetic multitrack corpus (see :mod:`mixenv.data.synth.corpus`)."""
