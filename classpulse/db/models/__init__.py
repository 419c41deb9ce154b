"""Every ClassPulse table, one module each; importing this package fills ``Base.metadata``."""

from classpulse.db.models.camera import Camera
from classpulse.db.models.classroom import Classroom
from classpulse.db.models.consumer_offset import ConsumerOffset
from classpulse.db.models.emotion_minute import EmotionMinute
from classpulse.db.models.engagement_weights import EngagementWeights
from classpulse.db.models.lesson import Lesson
from classpulse.db.models.offset_reset import OffsetReset
from classpulse.db.models.rejected_frame import RejectedFrame
from classpulse.db.models.seen_frame import SeenFrame
from classpulse.db.models.small_group_rule import SmallGroupRule

__all__ = ["Camera", "Classroom", "ConsumerOffset", "EmotionMinute", "EngagementWeights",
           "Lesson", "OffsetReset", "RejectedFrame", "SeenFrame", "SmallGroupRule"]
