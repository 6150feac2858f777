"""The website: HTML views, their forms and the dashboard's chart (templates in
reviews/templates/reviews/; template tags in reviews/templatetags/, where Django looks for them)."""
