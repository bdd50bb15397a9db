import os
import sys

# The package (unless installed) and the trainers beside it, as scripts see them.
HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "references"))
sys.path.insert(0, os.path.join(HERE, ".."))
