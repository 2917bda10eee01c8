from flask_restx import Namespace

ns = Namespace("user_actions", path="/user_actions", description="Page-to-page user actions (clicks, orders)")
