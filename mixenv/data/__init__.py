"""Data layer: the Multitrack record, audio I/O, loaders for every collection, splits and atomic writes."""

from mixenv.data.audio import AudioFileError, read_audio, write_audio
from mixenv.data.folder import load_folder, open_folder
from mixenv.data.multitrack import Multitrack, MultitrackError
from mixenv.data.songref import DatasetError, MissingDependencyError, SongRef
from mixenv.data.sources import list_songs
from mixenv.data.stems import LoadPolicy, SongFiles, StemsError

__all__ = [
    "AudioFileError",
    "DatasetError",
    "LoadPolicy",
    "MissingDependencyError",
    "Multitrack",
    "MultitrackError",
    "SongFiles",
    "SongRef",
    "StemsError",
    "list_songs",
    "load_folder",
    "open_folder",
    "read_audio",
    "write_audio",
]
