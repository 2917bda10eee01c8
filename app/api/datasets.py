from flask_restx import Namespace

ns = Namespace("datasets", path="/datasets", description="Dataset snapshots made from dumps")
