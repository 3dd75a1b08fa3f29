# The project shell holds no models (its one, JobLease, moved to core: migration 0002).
