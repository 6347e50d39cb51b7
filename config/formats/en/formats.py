# The console's English dates stay as they always read: ISO days, 24-hour times. Templates and
# the `when` filter name these formats (|date:"DATE_FORMAT"), so each language reads its own.
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "m-d"
